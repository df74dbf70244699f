/* A shared object that is not a kmsmig plugin: no km_plugin_entry. */
int km_fixture_not_a_plugin(void);
int km_fixture_not_a_plugin(void) {
  return 42;
}
