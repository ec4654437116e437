"""The fault suite (issue 12): logship under the faults a node meets, against real components."""
