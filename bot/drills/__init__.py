"""Exercise drills: the real ladder tried on a schedule or by hand, measured and reported."""
