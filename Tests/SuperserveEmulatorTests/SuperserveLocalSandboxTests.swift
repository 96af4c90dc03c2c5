import LocalSandboxes
@testable import SuperserveEmulator
import Foundation
import XCTest

/// The path-mapping rule of `LocalSandbox` (documented on the type; README states it).
final class SuperserveLocalSandboxTests: XCTestCase {
    let sandbox = LocalSandbox(id: "sb1", sandboxesRoot: URL(fileURLWithPath: "/tmp/root"),
                               mappedRoots: ["/srv", "/workspace", "/mnt", "/home/user"])
    let fs = "/tmp/root/sb1/fs"

    func testCommandRewritingTable() {
        let cases: [(String, String)] = [
            ("sh /srv/cma/launch.sh", "sh \(fs)/srv/cma/launch.sh"),
            ("/srv/cma/run", "\(fs)/srv/cma/run"),
            ("cd /workspace && ls", "cd \(fs)/workspace && ls"),
            ("X=/mnt/session/outputs", "X=\(fs)/mnt/session/outputs"),
            ("PATH=/a:/home/user/bin", "PATH=/a:\(fs)/home/user/bin"),
            ("cat '/srv/a b' \"/srv/c\"", "cat '\(fs)/srv/a b' \"\(fs)/srv/c\""),
            ("(cd /srv);ls|/srv/x&/srv/y>/srv/o</srv/i", "(cd \(fs)/srv);ls|\(fs)/srv/x&\(fs)/srv/y>\(fs)/srv/o<\(fs)/srv/i"),
            ("ls /srv", "ls \(fs)/srv"),
            ("ls /srvx /srv-old /home/username /mnt.d", "ls /srvx /srv-old /home/username /mnt.d"),
            ("ls /usr/srv /tmp/workspace", "ls /usr/srv /tmp/workspace"),
            ("echo a/srv", "echo a/srv"),
            ("/bin/sh -c true", "/bin/sh -c true"),
            ("tab\t/srv\nnl /mnt", "tab\t\(fs)/srv\nnl \(fs)/mnt"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(sandbox.rewrite(input), expected, input)
        }
    }

    func testFilePathsResolveOnlyUnderMappedRoots() {
        XCTAssertEqual(sandbox.hostPath(forSandboxPath: "/srv/cma/runner.py"), "\(fs)/srv/cma/runner.py")
        XCTAssertEqual(sandbox.hostPath(forSandboxPath: "/home/user"), "\(fs)/home/user")
        XCTAssertNil(sandbox.hostPath(forSandboxPath: "/etc/passwd"))
        XCTAssertNil(sandbox.hostPath(forSandboxPath: "/srvx/a"))
        XCTAssertEqual(sandbox.home, "\(fs)/home/user")
    }

    func testNetworkValidationAcceptsIPv4CIDRsAndDomainPatterns() {
        for ok in ["0.0.0.0/0", "10.0.0.0/8", "1.2.3.4", "255.255.255.255/32"] {
            XCTAssertTrue(SuperserveValidation.isIPv4OrCIDR(ok), ok)
        }
        for bad in ["256.0.0.0", "1.2.3", "1.2.3.4/33", "1.2.3.4/", "::1", "a.b.c.d"] {
            XCTAssertFalse(SuperserveValidation.isIPv4OrCIDR(bad), bad)
        }
        for ok in ["api.anthropic.com", "*.example.com", "*", "a-b.c.io"] {
            XCTAssertTrue(SuperserveValidation.isDomainPattern(ok), ok)
        }
        for bad in ["not a host", "-a.com", "a..com", "**.a.com", "2001:db8::1", "1.2.3.999"] {
            XCTAssertFalse(SuperserveValidation.isDomainPattern(bad), bad)
        }
    }
}
