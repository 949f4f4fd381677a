"""Everything the Lambda functions run: models, auth, storage, chat rules, notifier."""
