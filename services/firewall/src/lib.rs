//! vawg-firewall
