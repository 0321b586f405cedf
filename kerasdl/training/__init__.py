"""What several tasks share beyond a model: progress bars, fit helpers, and in
backends/ the few per-backend functions (input gradients, two-optimizer steps).
What only one experiment uses (its attacks, its time arithmetic) lives in its
task's package."""
