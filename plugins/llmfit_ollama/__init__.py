"""llmfit adapter: ollama (placeholder, owned by the plugin work item)."""
