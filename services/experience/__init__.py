"""The experience layer (DESIGN §1): one API per channel over the process layer, shaped for that channel."""
