"""Service-quality callbacks (回访): planning, the callback form, the 2-day clock, review."""
