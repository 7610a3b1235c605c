"""evaluate's library: held-out faces (held_out), dlib's view of a face (measure), the scores of a swap
(scores), the report (report) and its sheet (sheet)."""
