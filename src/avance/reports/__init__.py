"""Release-time figures (WCO Time Release Study) and the data of the dashboards, read from the
tables of declarations and risk; nothing here changes them."""
