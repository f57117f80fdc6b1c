"""The cloud layer: read what AWS actually runs (boto3) and evaluate every control's cloud check on it."""
