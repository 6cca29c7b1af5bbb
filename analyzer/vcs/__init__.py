"""Version control: git, run read-only with the user's configuration ignored."""
