"""What a run shows and records about itself: third-party notices kept off the console, progress
bars, the timeline of marks.
"""
