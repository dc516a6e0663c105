"""Report pieces: figures, the HTML report and the nomogram."""
