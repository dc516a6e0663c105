"""The hccp53 MONAI Label app's tasks (imported by ``label/main.py``; MONAI Label puts ``label/`` on the path)."""
