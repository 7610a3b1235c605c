"""Convert plugins: colour adjustment (color/), the mask that says which pixels are swapped (mask/) and
where the frames go (writer/). Each kind's registry maps a CLI name to 'module:Class', imported when chosen."""
