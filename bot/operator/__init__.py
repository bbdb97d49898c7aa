"""The operator's side: the conversation log and the report built from it."""
