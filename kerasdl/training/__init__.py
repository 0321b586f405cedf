"""What tasks share beyond a model: progress bars, callbacks, custom steps, attacks."""
