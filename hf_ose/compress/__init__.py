"""``hf-ose compress``: from a parent and a task to a smaller, faster, checked and documented model."""
