"""Pictures of training histories: the curves and marks (pure), drawn as text or with matplotlib."""
