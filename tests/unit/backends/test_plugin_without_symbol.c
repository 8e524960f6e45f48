/* A shared object that is no supplicant plugin: it exports no `plugin_method`. */
int not_a_plugin_method(void);
int not_a_plugin_method(void) { return 0; }
