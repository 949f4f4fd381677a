"""A local stand-in for API Gateway (REST and WebSocket) and DynamoDB, to run the app
without AWS. Not deployed: only chalicelib/ and app.py go to Lambda."""
