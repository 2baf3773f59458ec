"""Pure planners of the canary strategy: replica arithmetic and step progression."""
