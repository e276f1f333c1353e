"""Long fault tests (minutes): kills, restarts, outages. `make test-faults` runs them."""
