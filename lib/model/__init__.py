"""Model building blocks shared by the train plugins: custom layers, blocks and losses."""
