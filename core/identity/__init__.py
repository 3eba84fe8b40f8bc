"""Developers signed in through the company's IdP: who they are (claims), the bearer tokens switchyard
signs for them (keys, minting, verification), and the device flow's state machine. Pure: no I/O."""
