// Package seed keeps the old "Sophos API Connect" working beside and after
// this collector.
//
// "The seed" is Sophos API Connect, the Python script (sophos_central_main.py
// with its sophos.conf) that this project grew out of and replaces: it pulled
// alerts and events into a txt and a json file per stream and wrote its own
// log layout. Sites move from it to sophos-connect without losing or
// repeating an item, so this package holds everything that reproduces or
// reads what the seed did:
//
//   - Migrate converts the seed's sophos.conf to the YAML config;
//   - Sinks turns the seed's file keys (txt_file_creation, …) into file sinks;
//   - Adopt reads the ids the seed already wrote into those files, so a
//     first run does not write them again;
//   - NewLogger writes the seed's log lines ("[System Log dd/mm/YYYY HH:MM:SS]
//     …"), and Notes its per-pull notes ("Added N new Event IDs").
//
// Not to be confused with "the official script": Sophos's own SIEM
// integration script (siem.py, v2.1.0), whose CEF, key-value and JSON lines
// the cef, keyvalue and official-json encoders reproduce byte for byte
// (sinks/encoding). The seed is the program users ran; the official script
// is only the reference for those formats.
package seed
