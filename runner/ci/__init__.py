"""`flows ci`: the CI event, which flows it starts, and the job summary."""
