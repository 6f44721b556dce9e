"""Fleet-wide install statistics (`compute`) and the self-contained HTML report drawn from them (`report`)."""
