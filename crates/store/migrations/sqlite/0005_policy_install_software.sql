-- The package a policy installs on hosts where it fails.
ALTER TABLE policies ADD COLUMN install_software_id INTEGER REFERENCES software_packages(id);
