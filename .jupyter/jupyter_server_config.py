"""JupyterLab for `make lab`: the chapters open as notebooks, on 127.0.0.1, with the book's kernel.

`make lab` points JUPYTER_CONFIG_DIR here, so nothing in ~/.jupyter is read or written; Lab's own
user settings and workspaces land in .jupyter/lab/ (ignored by git).
"""

from pathlib import Path

c = get_config()  # noqa: F821 (provided by Jupyter when it loads this file)
REPO = Path(__file__).resolve().parents[1]

c.ServerApp.ip = "127.0.0.1"  # never on the network
c.ServerApp.open_browser = False  # the URL (with its token) is printed instead
c.ServerApp.port_retries = 0  # a busy port is an error, not a silent move to another port
c.ServerApp.allow_root = True  # CI containers and VMs like this one run as root; Lab still binds 127.0.0.1 only
c.ServerApp.root_dir = str(REPO)  # a kernel starts in its notebook's folder: chapters/, as in the build
c.LabApp.default_url = "/lab/tree/chapters"
c.MappingKernelManager.default_kernel_name = "python3"  # the .venv kernel the chapters name
# checkpoints go under _build, so saving a chapter writes nothing but the chapter into chapters/
c.FileCheckpoints.checkpoint_dir = str(REPO / "_build" / "lab-checkpoints")
# Saving a chapter writes the same bytes: jupytext's filters drop what Lab adds to the notebook (outputs are
# never written to a MyST file), and the hook keeps the file's header when Lab only restated it (the kernel's
# display name, key order, jupytext's version).
c.ContentsManager.pre_save_hook = "ocbook.lab.keep_front_matter"
