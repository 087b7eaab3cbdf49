//! HTTPS client of the Usage Meter appliance API (login, agent_info, product,
//! user_action, accept_certificate).
