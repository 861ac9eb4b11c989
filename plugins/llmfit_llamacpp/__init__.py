"""llmfit adapter: llamacpp (placeholder, owned by the plugin work item)."""
