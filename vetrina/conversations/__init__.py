"""Messages (inbox and outbox), conversation state and the processing of a turn."""
