"""Small helpers every function package ships with (the deployment zip always includes fnlib)."""
