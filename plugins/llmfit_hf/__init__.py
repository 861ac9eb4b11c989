"""llmfit adapter: hf (placeholder, owned by the plugin work item)."""
