"""The transactional outbox: Salesforce writes recorded with the events that cause them, pushed in batches."""
