"""Training: the data feed (faces, augmentation, masks, preview) and the trainer."""
