"""rill: compile PyTorch models to a bit-exact, cycle-exact streaming inference accelerator."""
