# Shared helper of the hvsnap scripts. The loader puts this text in place of the line that
# dot-sources it, so every script arrives as one self-contained text; run by hand on a host
# (from this folder) the dot-source line loads it instead. Functions only, no output.
# Reference: hyperv-wmi.md (section 7.3 for the job rules, section 1 for paths and embedded instances).

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$script:HvNs = 'root\virtualization\v2'
$script:RunningJobStates = @(2, 3, 4, 5, 6, 12)

function ConvertFrom-HvsnapInput([string]$Json) {
  if ([string]::IsNullOrWhiteSpace($Json)) { return New-Object psobject }
  return ($Json | ConvertFrom-Json)
}

function ConvertTo-HvsnapJson($Value) {
  ConvertTo-Json -InputObject $Value -Depth 12 -Compress
}

# Fails the script with an hvsnap error code; the runner reports Data['hvsnap'] as the detail.
function Stop-Hvsnap([string]$Code, [string]$Message, [hashtable]$Context = @{}) {
  $ex = New-Object System.Exception $Message
  $detail = @{ kind = 'hvsnap'; code = $Code; host = $env:COMPUTERNAME }
  foreach ($k in $Context.Keys) { $detail[$k] = $Context[$k] }
  $ex.Data['hvsnap'] = $detail
  throw $ex
}

function Get-HvsnapService([string]$ClassName) {
  $all = @(Get-CimInstance -Namespace $script:HvNs -ClassName $ClassName)
  if ($all.Count -ne 1) {
    Stop-Hvsnap 'unsupported' "expected one $ClassName on $env:COMPUTERNAME, found $($all.Count): is the Hyper-V role installed?"
  }
  return $all[0]
}

# VMs are the Msvm_ComputerSystem instances whose Name is a GUID (the host's Name is its computer name).
function Get-HvsnapVms {
  return @(Get-CimInstance -Namespace $script:HvNs -ClassName Msvm_ComputerSystem |
      Where-Object { $_.Name -match '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$' })
}

# Compared in PowerShell, never put into a WQL filter: ids and names are data.
function Get-HvsnapVm([string]$Id) {
  $vm = @(Get-HvsnapVms | Where-Object { $_.Name -eq $Id })
  if ($vm.Count -eq 0) { Stop-Hvsnap 'vm_not_found' "no VM with id $Id on $env:COMPUTERNAME" @{ vm = $Id } }
  return $vm[0]
}

function Get-HvsnapRealizedSettings($Vm) {
  $s = @(Get-CimAssociatedInstance -InputObject $Vm -ResultClassName Msvm_VirtualSystemSettingData |
      Where-Object { $_.VirtualSystemType -eq 'Microsoft:Hyper-V:System:Realized' })
  if ($s.Count -eq 0) { Stop-Hvsnap 'vm_invalid_state' "VM $($Vm.ElementName) has no realized settings" @{ vm = $Vm.ElementName } }
  return $s[0]
}

function Get-HvsnapSnapshots($Vm) {
  return @(Get-CimAssociatedInstance -InputObject $Vm -Association Msvm_SnapshotOfVirtualSystem -ResultClassName Msvm_VirtualSystemSettingData |
      Where-Object { $_.VirtualSystemType -eq 'Microsoft:Hyper-V:Snapshot:Recovery' })
}

function Get-HvsnapReferencePoints($Vm) {
  return @(Get-CimAssociatedInstance -InputObject $Vm -Association Msvm_ReferencePointOfVirtualSystem -ResultClassName Msvm_VirtualSystemReferencePoint)
}

# The facts of one VHD(X) file from Msvm_ImageManagementService.GetVirtualHardDiskSettingData
# (MSDOC msvm-imagemanagementservice-getvirtualharddisksettingdata: out SettingData, an embedded
# Msvm_VirtualHardDiskSettingData with VirtualDiskId, MaxInternalSize, Format 2 VHD/3 VHDX/4 VHDSet,
# ParentPath; reference section 4.2). WMI only: the Hyper-V PowerShell module may be absent. A file
# that cannot be read is an error naming it, never a disk of size 0.
function Get-HvsnapVhdFacts([string]$Path) {
  $ims = Get-HvsnapService 'Msvm_ImageManagementService'
  $out = Invoke-CimMethod -InputObject $ims -MethodName GetVirtualHardDiskSettingData -Arguments @{ Path = $Path }
  if ([int]$out.ReturnValue -eq 4096 -and $null -ne $out.Job) {
    $waited = Wait-HvsnapJob -JobId ([string]$out.Job.InstanceID) -WaitMs 60000
    if ($waited.Report.JobState -ne 7) { Stop-Hvsnap 'vhdx_invalid' "cannot read the virtual disk $Path (job state $($waited.Report.JobState): $($waited.Report.ErrorDescription))" @{ path = $Path } }
  } elseif ([int]$out.ReturnValue -ne 0) {
    Stop-Hvsnap 'vhdx_invalid' "cannot read the virtual disk $Path (GetVirtualHardDiskSettingData returned $([int]$out.ReturnValue))" @{ path = $Path; status = [int]$out.ReturnValue }
  }
  if (-not $out.SettingData) { Stop-Hvsnap 'vhdx_invalid' "the host gave no settings for the virtual disk $Path" @{ path = $Path } }
  $props = @{}
  foreach ($p in ([xml][string]$out.SettingData).INSTANCE.PROPERTY) { $props[[string]$p.NAME] = [string]$p.VALUE }
  $format = @{ '2' = 'VHD'; '3' = 'VHDX'; '4' = 'VHDSet' }[[string]$props['Format']]
  if (-not $format) { $format = [string]$props['Format'] }
  return [ordered]@{ VirtualDiskId = $props['VirtualDiskId']; Size = [uint64]$props['MaxInternalSize']; Format = $format; ParentPath = $props['ParentPath'] }
}

# The virtual hard disks of a settings instance (VM or snapshot): virtual-hard-disk SASDs, whose
# InstanceID ends in \L (the drive's RASD ends in \D), with the facts of each file.
function Get-HvsnapDisks($Settings) {
  $disks = @()
  $sasds = @(Get-CimAssociatedInstance -InputObject $Settings -ResultClassName Msvm_StorageAllocationSettingData |
      Where-Object { $_.ResourceType -eq 31 -and $_.ResourceSubType -eq 'Microsoft:Hyper-V:Virtual Hard Disk' })
  foreach ($d in $sasds) {
    $path = @($d.HostResource)[0]
    $vhd = Get-HvsnapVhdFacts $path
    # a differencing disk's parents (user checkpoints, differencing VMs), nearest first
    $chain = @()
    $parent = [string]$vhd.ParentPath
    while ($parent -and $chain.Count -lt 16) {
      $chain += $parent
      $parent = [string](Get-HvsnapVhdFacts $parent).ParentPath
    }
    $disks += [ordered]@{ InstanceID = $d.InstanceID; Path = $path; VirtualDiskId = [string]$vhd.VirtualDiskId; Size = $vhd.Size; Format = $vhd.Format; ParentPaths = $chain }
  }
  return , $disks
}

function ConvertTo-HvsnapSnapshot($Snapshot) {
  return [ordered]@{
    InstanceID              = $Snapshot.InstanceID
    ElementName             = $Snapshot.ElementName
    VirtualSystemType       = $Snapshot.VirtualSystemType
    VirtualSystemIdentifier = $Snapshot.VirtualSystemIdentifier
    CreationTime            = if ($Snapshot.CreationTime) { ([datetime]$Snapshot.CreationTime).ToUniversalTime().ToString('o') } else { $null }
    Disks                   = Get-HvsnapDisks $Snapshot
  }
}

# The WMI object path of an instance, for string-typed reference parameters (XHVB Get-CimInstancePath).
function Get-HvsnapPath($Instance, [string]$KeyName = 'InstanceID') {
  $key = ([string]$Instance.$KeyName).Replace('\', '\\').Replace('"', '\"')
  return '\\' + $env:COMPUTERNAME + '\' + $script:HvNs + ':' + $Instance.CimClass.CimClassName + '.' + $KeyName + '="' + $key + '"'
}

# An embedded-instance string parameter (CIM-XML through CimSerializer, as XHVB does).
function ConvertTo-HvsnapEmbedded($Instance) {
  $serializer = [Microsoft.Management.Infrastructure.Serialization.CimSerializer]::Create()
  $bytes = $serializer.Serialize($Instance, [Microsoft.Management.Infrastructure.Serialization.InstanceSerializationOptions]::None)
  return [Text.Encoding]::Unicode.GetString($bytes)
}

function New-HvsnapSettings([string]$ClassName, [hashtable]$Properties) {
  $class = Get-CimClass -Namespace $script:HvNs -ClassName $ClassName
  return New-CimInstance -CimClass $class -ClientOnly -Property $Properties
}

function Get-HvsnapJobReport($Job) {
  $errors = @()
  $state = [int]$Job.JobState
  if (($script:RunningJobStates -notcontains $state) -and $state -ne 7 -and $state -ne 32768) {
    try { $errors = @((Invoke-CimMethod -InputObject $Job -MethodName GetErrorEx).Errors) } catch { $errors = @('GetErrorEx failed: ' + $_.Exception.Message) }
  }
  return [ordered]@{
    InstanceID              = [string]$Job.InstanceID
    JobState                = $state
    JobType                 = [int]$Job.JobType
    ErrorCode               = [int]$Job.ErrorCode
    ErrorDescription        = [string]$Job.ErrorDescription
    ErrorSummaryDescription = [string]$Job.ErrorSummaryDescription
    PercentComplete         = [int]$Job.PercentComplete
    Errors                  = $errors
  }
}

# Polls a job until it leaves the running states or WaitMs passes. Returns @{ Cim; Report }; Cim is
# $null and JobState -1 when the job is gone (finished jobs are removed after about five minutes).
function Wait-HvsnapJob([string]$JobId, [int]$WaitMs) {
  $watch = [Diagnostics.Stopwatch]::StartNew()
  while ($true) {
    $job = @(Get-CimInstance -Namespace $script:HvNs -ClassName CIM_ConcreteJob | Where-Object { $_.InstanceID -eq $JobId })
    if ($job.Count -eq 0) {
      return @{ Cim = $null; Report = [ordered]@{ InstanceID = $JobId; JobState = -1; ErrorCode = 0; ErrorDescription = 'the job no longer exists'; Errors = @() } }
    }
    $running = $script:RunningJobStates -contains [int]$job[0].JobState
    if (-not $running -or $watch.ElapsedMilliseconds -ge $WaitMs) {
      return @{ Cim = $job[0]; Report = (Get-HvsnapJobReport $job[0]) }
    }
    Start-Sleep -Milliseconds 500
  }
}

function Get-HvsnapAffected($JobCim, [string]$ClassName, [string]$KeyName = 'InstanceID') {
  if ($null -eq $JobCim) { return , @() }
  $ids = @(Get-CimAssociatedInstance -InputObject $JobCim -Association Msvm_AffectedJobElement -ResultClassName $ClassName | ForEach-Object { [string]$_.$KeyName })
  return , $ids
}

# Calls a method and waits for its job (section 7.3). Returns @{ Result (JSON-ready); Out (raw out
# parameters); Job (the job instance or $null); Ok }.
function Invoke-HvsnapMethod($Target, [string]$Method, [hashtable]$Arguments, [int]$WaitMs = 600000, [string]$AffectedClass = '', [string]$AffectedKey = 'InstanceID') {
  $out = Invoke-CimMethod -InputObject $Target -MethodName $Method -Arguments $Arguments
  $result = [ordered]@{ Method = $Method; ReturnValue = [int]$out.ReturnValue; Job = $null; Affected = @() }
  $jobCim = $null
  if ($result.ReturnValue -eq 4096 -and $null -ne $out.Job) {
    $waited = Wait-HvsnapJob -JobId ([string]$out.Job.InstanceID) -WaitMs $WaitMs
    $jobCim = $waited.Cim
    $result.Job = $waited.Report
    if ($AffectedClass -and ($waited.Report.JobState -eq 7 -or $waited.Report.JobState -eq 32768)) {
      $result.Affected = Get-HvsnapAffected $jobCim $AffectedClass $AffectedKey
    }
  }
  $ok = $result.ReturnValue -eq 0 -or ($null -ne $result.Job -and ($result.Job.JobState -eq 7 -or $result.Job.JobState -eq 32768))
  return @{ Result = $result; Out = $out; Job = $jobCim; Ok = $ok }
}

# Names hvsnap gave its reference points, kept beside the VM's configuration (it moves with the VM):
# Hyper-V offers no method to name a reference point. Each entry also holds when hvsnap converted it:
# Msvm_VirtualSystemReferencePoint has no CreationTime (MSDOC msvm-virtualsystemreferencepoint).
# Read-HvsnapNames returns id -> name and fills $script:HvsnapCreated (id -> ISO time).
function Get-HvsnapNameFile($Vm) {
  $settings = Get-HvsnapRealizedSettings $Vm
  return Join-Path $settings.ConfigurationDataRoot ('hvsnap-reference-points-' + $Vm.Name + '.json')
}

$script:HvsnapCreated = @{}
function Read-HvsnapNames($Vm) {
  $names = @{}
  $script:HvsnapCreated = @{}
  $file = Get-HvsnapNameFile $Vm
  if (Test-Path -LiteralPath $file) {
    $text = Get-Content -LiteralPath $file -Raw -Encoding UTF8
    if (-not [string]::IsNullOrWhiteSpace($text)) {
      $data = $text | ConvertFrom-Json
      foreach ($p in $data.PSObject.Properties) {
        if ($p.Value -is [string]) { $names[$p.Name] = [string]$p.Value; continue }
        $names[$p.Name] = [string]$p.Value.name
        if ($p.Value.createdAt) { $script:HvsnapCreated[$p.Name] = [string]$p.Value.createdAt }
      }
    }
  }
  return $names
}

function Write-HvsnapNames($Vm, [hashtable]$Names) {
  $file = Get-HvsnapNameFile $Vm
  $tmp = $file + '.tmp'
  $records = @{}
  foreach ($k in $Names.Keys) { $records[$k] = [ordered]@{ name = $Names[$k]; createdAt = $script:HvsnapCreated[$k] } }
  [IO.File]::WriteAllText($tmp, (ConvertTo-Json -InputObject $records -Compress), [Text.Encoding]::UTF8)
  Move-Item -LiteralPath $tmp -Destination $file -Force
}

function ConvertTo-HvsnapReferencePoint($Rp, [hashtable]$Names) {
  return [ordered]@{
    InstanceID                         = [string]$Rp.InstanceID
    VirtualSystemIdentifier            = [string]$Rp.VirtualSystemIdentifier
    ElementName                        = [string]$Rp.ElementName
    HvsnapName                         = $Names[[string]$Rp.InstanceID]
    HvsnapCreatedAt                    = $script:HvsnapCreated[[string]$Rp.InstanceID]
    ReferencePointType                 = [int]$Rp.ReferencePointType
    ConsistencyLevel                   = [int]$Rp.ConsistencyLevel
    VirtualDiskIdentifiers             = @($Rp.VirtualDiskIdentifiers)
    ResilientChangeTrackingIdentifiers = @($Rp.ResilientChangeTrackingIdentifiers)
  }
}

# Sets a snapshot's ElementName. The caller reads the snapshot again afterwards and reports the name
# the host kept: a rename that did not stick leaves an untagged checkpoint to delete by its id.
function Rename-HvsnapSnapshot($Snapshot, [string]$Name, [int]$WaitMs) {
  if ($Snapshot.ElementName -eq $Name) { return $null }
  $vmms = Get-HvsnapService 'Msvm_VirtualSystemManagementService'
  $Snapshot.ElementName = $Name
  $call = Invoke-HvsnapMethod $vmms 'ModifySystemSettings' @{ SystemSettings = (ConvertTo-HvsnapEmbedded $Snapshot) } $WaitMs
  if (-not $call.Ok) { return $call.Result }
  return $null
}

# A VM as get-vms.ps1 reports it. $MemberOf maps VM id to the CollectionIDs of its groups.
function ConvertTo-HvsnapVm($Vm, [hashtable]$MemberOf) {
  $settings = Get-HvsnapRealizedSettings $Vm
  $groups = @()
  if ($MemberOf.ContainsKey([string]$Vm.Name)) { $groups = @($MemberOf[[string]$Vm.Name]) }
  # one VM with an unreadable disk must not hide the others: its error goes in DiskError
  $disks = @()
  $diskError = $null
  try { $disks = Get-HvsnapDisks $settings } catch { $diskError = $_.Exception.Message }
  return [ordered]@{
    Name                 = [string]$Vm.Name
    ElementName          = [string]$Vm.ElementName
    Version              = [string]$settings.Version
    VirtualSystemSubType = [string]$settings.VirtualSystemSubType
    EnabledState         = [int]$Vm.EnabledState
    OperationalStatus    = @($Vm.OperationalStatus | ForEach-Object { [int]$_ })
    Groups               = $groups
    Disks                = $disks
    DiskError            = $diskError
  }
}

function Get-HvsnapGroupMembership {
  $memberOf = @{}
  $groups = @()
  try { $groups = @(Get-CimInstance -Namespace $script:HvNs -ClassName Msvm_VirtualSystemCollection) } catch { $groups = @() }
  foreach ($g in $groups) {
    $members = @(Get-CimAssociatedInstance -InputObject $g -Association Msvm_CollectedVirtualSystems -ResultClassName Msvm_ComputerSystem)
    foreach ($m in $members) {
      if (-not $memberOf.ContainsKey([string]$m.Name)) { $memberOf[[string]$m.Name] = @() }
      $memberOf[[string]$m.Name] += [string]$g.CollectionID
    }
  }
  return $memberOf
}
