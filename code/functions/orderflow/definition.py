"""The orchestrated order flow as an ASL definition (a function, so the function ARNs are filled in)."""


def order_flow(reserve_arn: str, pay_arn: str, ship_arn: str) -> dict:
    """Reserve -> Pay -> Ship, failing the execution with the step's error if a step fails."""
    def task(arn: str, next_state: str) -> dict:
        return {"Type": "Task", "Resource": arn, "Next": next_state,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "OrderFailed"}]}

    return {
        "Comment": "Order flow orchestrated by one coordinator",
        "StartAt": "ReserveStock",
        "States": {
            "ReserveStock": task(reserve_arn, "TakePayment"),
            "TakePayment": task(pay_arn, "Ship"),
            "Ship": {**task(ship_arn, "OrderShipped")},
            "OrderShipped": {"Type": "Succeed"},
            "OrderFailed": {"Type": "Fail", "Error": "OrderFailed", "Cause": "a step failed; see the history"},
        },
    }
