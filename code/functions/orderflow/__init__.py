"""Chapter 1's order flow: reserve stock, take payment, ship; the same logic driven two ways."""
