"""tfimagegen."""
