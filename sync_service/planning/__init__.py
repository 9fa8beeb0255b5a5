"""Step 2 of the data flow, "plan": the cadence (which stages, for which segment) and the planner that turns
the store's contracts into reminder rows for the send job."""
