"""The network (pure nn.Module), its checkpoint, and running it for inference."""
