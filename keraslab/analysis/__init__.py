"""Analysis tools (invertibility, representations, Jacobians, attacks, plots).

Empty for now: they arrive with the scattering, i-RevNet and regularization capabilities.
"""
