"""One module per control family; each defines CONTROLS. Adding a control means editing one of these lists."""
