"""Sending email through SES: the send pipeline, the shared rate limit and the SES client."""
