// Package control is the node controllers behind one interface: Controller
// (Kill, Restart, Up) and the registry of controller types (Types), each in
// a package of its own below this one (sandboxctl, process, exec, and
// kubernetes in builds with the kubernetes tag), each owning its config
// section.
package control
