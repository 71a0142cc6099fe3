"""The cost matrix: errors are not equal (issue #24)."""

from __future__ import annotations

# The cost of each kind of error, per report (issue #24: errors are not equal). Forwarding an off-list request
# makes it a department's task, which is what the admission list exists to prevent; a wrong department has to
# return the case; refusing an on-list report bounces the resident; triage costs an operator a minute. A report
# with danger signals sent anywhere but the police or an operator is the worst error of all. The decision rules
# follow the same order: the admission threshold keeps misroutes rare at the price of triage, and danger
# signals override the model (classifier.py, danger.py). `expected_cost` scores a split with this matrix.
COSTS: dict[str, float] = {
    "right": 0.0,
    "right_department_wrong_item": 0.5,  # the department reassigns it internally
    "triage": 1.0,
    "refused_on_list": 5.0,
    "wrong_department": 10.0,
    "forwarded_off_list": 10.0,
    "danger_away_from_police": 100.0,
}


def refusal_threshold() -> float:
    """Refuse (not admitted) when that is cheaper than triage in expectation: the report is wrongly refused with
    probability 1 - P(not admitted), so refuse iff (1 - P) * cost(refused on-list) <= cost(triage)."""
    return round(1.0 - COSTS["triage"] / COSTS["refused_on_list"], 4)
