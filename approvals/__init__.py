"""Human-in-the-loop approvals (state machine, decisions, expiry, lifecycle webhooks).

Not built yet: see the approvals issue. Button presses (actions) are acknowledged and recorded by
the turn pipeline until then.
"""
