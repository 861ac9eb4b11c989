"""llmfit adapter: mlx (placeholder, owned by the plugin work item)."""
